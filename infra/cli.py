"""``fpw up``, ``fpw stack``, ``fpw infra``, ``fpw clients`` and ``fpw admin``:
running, deploying and administering a deployment."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.admin import SiteKey
    from infra.deploy import Deployer
    from infra.local.stack import LocalStack
    from shared.config import AwsSettings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = subparsers.add_parser("up", help="run the whole system locally (until Ctrl-C)")
    up.add_argument(
        "--inbox", type=Path, default=Path("inbox"), help="watched folder (default ./inbox)"
    )
    up.add_argument("--fetchers", type=int, default=1, help="number of fetchers (default 1)")
    up.add_argument("--port", type=int, default=0, help="local stack port (default: a free one)")
    up.add_argument(
        "--home", type=Path, default=Path(".fpw"), help="state and logs (default ./.fpw)"
    )
    up.add_argument(
        "--containers",
        action="store_true",
        help="run the back end from its images (podman or docker); the agent on this host",
    )
    up.set_defaults(func=_up)

    stack = subparsers.add_parser("stack", help="run only the local AWS stack (until Ctrl-C)")
    stack.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    stack.add_argument(
        "--home", type=Path, default=Path(".fpw"), help="where stack.json is written"
    )
    stack.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    stack.add_argument(
        "--configs", type=Path, help="write each part's settings file (<role>.toml) here"
    )
    stack.add_argument(
        "--public-endpoint",
        help="endpoint written into those files, as other machines reach the stack",
    )
    stack.set_defaults(func=_stack)

    infra = subparsers.add_parser("infra", help="deploy or destroy the AWS deployment")
    infra_actions = infra.add_subparsers(dest="action", metavar="ACTION", required=True)
    deploy = infra_actions.add_parser(
        "deploy", help="create or update the stack (AWS, or the local stack's endpoint)"
    )
    _stack_name(deploy)
    deploy.add_argument("--prefix", help="the template's Prefix parameter")
    deploy.add_argument("--fleet", choices=["ecs", "none"], help="the template's Fleet parameter")
    deploy.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a template parameter"
    )
    deploy.add_argument(
        "--images",
        type=Path,
        help="image parameters written by `fpw images push` (default ./.fpw/images.json, "
        "when it exists); --param overrides them",
    )
    deploy.add_argument(
        "--no-push",
        action="store_true",
        help="refuse, rather than build and push this checkout's images, where a fleet "
        "(Fleet=ecs) has no image given",
    )
    from infra.release.ecr import push_options

    push_options(deploy)
    deploy.add_argument(
        "--no-checks",
        action="store_true",
        help="deploy even if a prerequisite check fails",
    )
    _smoke_options(deploy)
    deploy.add_argument(
        "--no-smoke", action="store_true", help="skip the smoke test after the deploy"
    )
    deploy.set_defaults(func=_deploy, admin_config=True)
    check = infra_actions.add_parser(
        "check", help="check the prerequisites of a deploy (what `fpw infra deploy` checks)"
    )
    _stack_name(check)
    check.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a template parameter"
    )
    check.set_defaults(func=_check, admin_config=True)
    smoke = infra_actions.add_parser(
        "smoke", help="one file through the deployed fleet as a throwaway desktop sends it"
    )
    _stack_name(smoke)
    _smoke_options(smoke)
    smoke.set_defaults(func=_smoke, admin_config=True)
    destroy = infra_actions.add_parser("destroy", help="delete the stack (tables and key are kept)")
    _stack_name(destroy)
    destroy.add_argument(
        "--force", action="store_true", help="delete objects still in the bucket first"
    )
    destroy.set_defaults(func=_destroy, admin_config=True)
    outputs = infra_actions.add_parser("outputs", help="print the stack's outputs")
    _stack_name(outputs)
    outputs.set_defaults(func=_outputs, admin_config=True)

    clients = subparsers.add_parser(
        "clients", help="the registry of client keys allowed to submit jobs"
    )
    client_actions = clients.add_subparsers(dest="action", metavar="ACTION", required=True)
    reg = client_actions.add_parser("register", help="allow a client key to submit jobs")
    reg.add_argument("client_id", help="as `fpw client --show-id` prints it")
    reg.add_argument("--label", required=True, help="who or what this computer is")
    reg.set_defaults(func=_register, admin_config=True)
    rev = client_actions.add_parser(
        "revoke", help="refuse further jobs from a key; its queued jobs end in ERROR"
    )
    rev.add_argument("client_id")
    rev.set_defaults(func=_revoke, admin_config=True)
    listing = client_actions.add_parser("list", help="registered keys, newest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_list_clients, admin_config=True)
    requests = client_actions.add_parser(
        "requests", help="requests to join waiting for a decision, newest first"
    )
    requests.add_argument("--json", action="store_true", help="one JSON object per line")
    requests.set_defaults(func=_list_requests, admin_config=True)
    approve = client_actions.add_parser(
        "approve", help="register a requesting computer's key (as `register` does)"
    )
    approve.add_argument("request_id", help="as `fpw clients requests` prints it")
    approve.add_argument("--label", help="default: the computer's name and user")
    approve.set_defaults(func=_approve, admin_config=True)
    reject = client_actions.add_parser("reject", help="refuse a request to join")
    reject.add_argument("request_id", help="as `fpw clients requests` prints it")
    reject.add_argument("--reason", default="", help="shown to the computer's user")
    reject.set_defaults(func=_reject, admin_config=True)

    admin = subparsers.add_parser("admin", help="site credentials for desktops")
    actions = admin.add_subparsers(dest="action", metavar="ACTION", required=True)
    site = actions.add_parser("site", help="IAM users whose keys desktops use (one per site)")
    site_actions = site.add_subparsers(dest="site_action", metavar="SITE_ACTION", required=True)
    for name, func, text in (
        ("add", _site_add, "create the site's user and its first key (printed once)"),
        ("rotate", _site_rotate, "a second key for the site (printed once)"),
        ("retire", _site_retire, "delete the site's keys but the newest"),
        ("remove", _site_remove, "delete the site's user and keys"),
    ):
        command = site_actions.add_parser(name, help=text)
        command.add_argument("site", help="letters, digits and dashes")
        if name in ("add", "rotate"):
            command.add_argument(
                "--output",
                type=Path,
                help="write the desktops' settings file here (mode 0600) instead of printing it",
            )
        _stack_name(command)
        command.set_defaults(func=func, admin_config=True)

    from infra.release import bundle as release
    from infra.release import images

    release.register(subparsers)
    images.register(subparsers)
    from infra.release import ecr

    ecr.register(subparsers)  # `push`, beside images' own actions


def _up(args: argparse.Namespace) -> int:
    from infra.local.up import run_up
    from shared.errors import ConfigError
    from shared.logs import setup

    setup(json_lines=False, verbose=args.verbose)
    if args.fetchers < 1:
        raise ConfigError("--fetchers must be at least 1")
    if args.containers:
        from infra.local.containers import run_up_containers

        return run_up_containers(args.inbox, args.fetchers, args.port, args.home)
    return run_up(args.inbox, args.fetchers, args.port, args.home)


def _stack(args: argparse.Namespace) -> int:
    from shared.logs import setup

    setup(json_lines=False, verbose=args.verbose)
    from infra.local.stack import start_home_stack
    from infra.local.up import SNAPSHOT_SECONDS

    home: Path = args.home.resolve()
    stack = start_home_stack(home, args.port, args.host)
    if args.configs:
        _write_configs(stack, args.configs, args.public_endpoint or stack.endpoint)
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"local stack at {stack.endpoint} (state in {home / 'stack' / 'stack.json'})")
    print(json.dumps(stack.outputs, indent=2), flush=True)
    try:
        while not stopped.wait(SNAPSHOT_SECONDS):
            stack.save_quietly()
    finally:
        stack.save_quietly()
        stack.stop()
    return 0


def _admin_settings(args: argparse.Namespace) -> AwsSettings:
    """The admin's settings: ``--config``, ``$FPW_CONFIG``, then ``./.fpw/admin.toml``
    (written by ``fpw up``) before the client's ``./.fpw/config.toml``."""
    from shared.config import load_settings

    return load_settings(args.config, admin=True).aws


def _register(args: argparse.Namespace) -> int:
    from infra.admin import register_client

    register_client(_admin_settings(args), args.client_id, args.label)
    print(f"registered {args.client_id[:24]}… as {args.label!r}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from infra.admin import revoke_client
    from shared.config import load_settings

    settings = load_settings(args.config, admin=True)
    ended = revoke_client(settings.aws, args.client_id, settings.fetcher.result_retention_seconds)
    print(f"revoked {args.client_id[:24]}…; {len(ended)} queued job(s) ended as ERROR")
    return 0


def _list_clients(args: argparse.Namespace) -> int:
    from infra.admin import list_clients

    rows = list_clients(_admin_settings(args))
    if args.json:
        for row in rows:
            print(json.dumps(asdict(row)))
        return 0
    if not rows:
        print("no client keys registered (`fpw clients register CLIENT_ID --label NAME`)")
        return 0
    print(f"{'LABEL':24} {'STATE':8} {'REGISTERED':24} CLIENT")
    for row in rows:
        state = "active" if row.active else "revoked"
        print(f"{row.label[:24]:24} {state:8} {row.registered:24} {row.client}")
    return 0


def _list_requests(args: argparse.Namespace) -> int:
    from infra.admin import join_requests
    from shared.joins import LISTED_PER_SITE

    rows, hidden = join_requests(_admin_settings(args))
    if args.json:
        for row in rows:
            print(json.dumps({"id": row.id, **asdict(row), "state": str(row.state.value)}))
        return 0
    if not rows:
        print("no requests to join are waiting")
        return 0
    print(f"{'ID':12} {'COMPUTER':20} {'USER':16} {'REQUESTED':25} CLIENT")
    for row in rows:
        print(
            f"{row.id:12} {row.computer[:20]:20} {row.user[:16]:16} {row.requested:25} "
            f"{row.client[:32]}…"
        )
    if hidden:
        print(f"({hidden} more not shown: at most {LISTED_PER_SITE} per site credential)")
    return 0


def _approve(args: argparse.Namespace) -> int:
    from infra.admin import approve_request

    row = approve_request(_admin_settings(args), args.request_id, args.label)
    print(f"approved {row.id}: {row.computer} ({row.user}) is registered")
    return 0


def _reject(args: argparse.Namespace) -> int:
    from infra.admin import reject_request

    row = reject_request(_admin_settings(args), args.request_id, args.reason)
    print(f"rejected {row.id}: {row.computer} ({row.user})")
    return 0


def _write_configs(stack: LocalStack, folder: Path, endpoint: str) -> None:
    """Settings files for parts in other containers (<role>.toml) and on this host."""
    from infra.fleetkey import role_groups
    from infra.local.up import aws_table
    from shared.config import dump_toml
    from shared.private import write_private

    # Each file holds the admin's key: owner-only (the parts' containers run as
    # the same user), written whole or not at all.
    # The watcher's file last: its existence tells a health check that all are there.
    for role in ("admin", "client", "fetcher", "watcher"):
        settings = stack.admin_settings() if role == "admin" else stack.role_settings(role)
        fleet = role_groups(stack, role)  # the fetcher's fleet key, the client's pin
        write_private(
            folder / f"host-{role}.toml", dump_toml({"aws": aws_table(settings), **fleet})
        )
        settings.endpoint_url = endpoint
        write_private(folder / f"{role}.toml", dump_toml({"aws": aws_table(settings), **fleet}))


def _stack_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack-name",
        help="CloudFormation stack (default: fpw, or fpw-local on the local stack's endpoint)",
    )


def _deployer(args: argparse.Namespace) -> Deployer:
    from infra.deploy import Deployer

    settings = _admin_settings(args)
    name = args.stack_name or ("fpw-local" if settings.endpoint_url else "fpw")
    return Deployer(settings, name)


def _smoke_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoke-timeout",
        type=float,
        default=1200.0,
        metavar="SECONDS",
        help="how long the smoke test waits for its result (default 1200: a fleet at zero "
        "tasks starts a GPU instance first)",
    )


def _print_outputs(outputs: dict[str, str]) -> None:
    width = max((len(k) for k in outputs), default=0)
    for key in sorted(outputs):
        print(f"{key:<{width}}  {outputs[key]}")


def _deploy(args: argparse.Namespace) -> int:
    from infra.deploy import parse_parameters
    from infra.release.ecr import IMAGES_FILE, read_image_parameters

    images = args.images or (IMAGES_FILE if IMAGES_FILE.exists() else None)
    params = read_image_parameters(images) if images else {}
    if images:
        print(f"images from {images}: {', '.join(sorted(params))}")
    params.update(parse_parameters(args.param))
    if args.prefix:
        params["Prefix"] = args.prefix
    if args.fleet:
        params["Fleet"] = args.fleet
    deployer = _deployer(args)
    if not args.no_checks:
        _run_checks(deployer, params)
    params.update(_fleet_images(args, deployer, params))
    result = deployer.deploy(params)
    print(f"{result.name}: {result.status}")
    _print_outputs(result.outputs)
    if args.no_smoke:
        return 0
    if "ClusterName" not in result.outputs:
        print("no fleet in this stack (Fleet=none): run `fpw infra smoke` once your fetchers run")
        return 0
    return _run_smoke(deployer, result.outputs, args.smoke_timeout)


def _fleet_images(
    args: argparse.Namespace, deployer: Deployer, params: dict[str, str]
) -> dict[str, str]:
    """A fleet never starts on the template's placeholder images: this checkout's
    are built where missing, pushed and pinned first (or, with --no-push, refused)."""
    from infra.release.ecr import PARTS, placeholder_images, publish
    from shared.errors import FpwError

    effective = deployer.effective_parameters(params)
    missing = placeholder_images(effective, deployer.template_defaults())
    if not missing:
        return {}
    if args.no_push:
        raise FpwError(
            f"not deploying: the fleet has no image for {', '.join(missing)}",
            hint="run `fpw images push` (it writes .fpw/images.json), pass --images FILE or "
            "--param KEY=IMAGE, or deploy without --no-push to build and push them now",
        )
    parts = tuple(part for part, key in PARTS.items() if key in missing)
    print(f"no image given for {', '.join(missing)}: pushing this checkout's ({args.variant})")
    return publish(args, deployer.settings, prefix=effective.get("Prefix", "fpw"), parts=parts)


def _run_checks(deployer: Deployer, params: dict[str, str]) -> None:
    """Each prerequisite in one line; a missing one stops the deploy before AWS is changed."""
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.preflight import Verdict, preflight
    from shared.errors import FpwError

    try:
        effective = deployer.effective_parameters(params)
    except (ClientError, BotoCoreError):
        effective = dict(params)  # the credentials check below says why
    checks = preflight(deployer.settings, effective)
    for check in checks:
        print(check.line())
    missing = [c.name for c in checks if c.outcome is Verdict.FAILED]
    if missing:
        raise FpwError(
            f"not deploying: {', '.join(missing)} missing",
            hint="do what each line above says, or deploy with --no-checks",
        )


def _check(args: argparse.Namespace) -> int:
    from infra.deploy import parse_parameters
    from shared.errors import FpwError

    try:
        _run_checks(_deployer(args), parse_parameters(args.param))
    except FpwError as exc:
        print(exc.message)
        return 1
    return 0


def _run_smoke(deployer: Deployer, outputs: dict[str, str], timeout: float) -> int:
    from infra.smoke import desktop_needs, run_smoke

    run_smoke(deployer.settings, outputs, timeout=timeout)
    print(desktop_needs(outputs, deployer.settings.endpoint_url))
    return 0


def _smoke(args: argparse.Namespace) -> int:
    deployer = _deployer(args)
    return _run_smoke(deployer, deployer.outputs(), args.smoke_timeout)


def _destroy(args: argparse.Namespace) -> int:
    result = _deployer(args).destroy(force=args.force)
    print(f"{result.name}: {result.status}")
    return 0


def _outputs(args: argparse.Namespace) -> int:
    _print_outputs(_deployer(args).outputs())
    return 0


def _site_context(args: argparse.Namespace) -> tuple[AwsSettings, dict[str, str], str]:
    """Settings, outputs and prefix of the deployed stack."""
    deployer = _deployer(args)
    outputs = deployer.outputs()
    return deployer.settings, outputs, outputs.get("Deployment", "fpw")


def _hand_out_site_key(
    args: argparse.Namespace, key: SiteKey, outputs: dict[str, str], settings: AwsSettings
) -> None:
    """The site's complete desktop settings, printed once or written owner-only; never logged."""
    from infra.admin import site_settings_toml
    from shared.private import write_private

    text = site_settings_toml(outputs, key, settings.endpoint_url)
    if args.output is None:
        print(text, end="")
        return
    write_private(args.output, text)
    print(f"wrote the settings of the desktops of site {args.site} to {args.output} (mode 0600)")


def _site_add(args: argparse.Namespace) -> int:
    from infra.admin import add_site

    settings, outputs, prefix = _site_context(args)
    key = add_site(settings, prefix, args.site, outputs["ClientSitePolicyArn"])
    _hand_out_site_key(args, key, outputs, settings)
    return 0


def _site_rotate(args: argparse.Namespace) -> int:
    from infra.admin import rotate_site

    settings, outputs, prefix = _site_context(args)
    key = rotate_site(settings, prefix, args.site)
    _hand_out_site_key(args, key, outputs, settings)
    print(f"# once every desktop has it: fpw admin site retire {args.site}")
    return 0


def _site_retire(args: argparse.Namespace) -> int:
    from infra.admin import retire_site_keys

    settings, _, prefix = _site_context(args)
    retired = retire_site_keys(settings, prefix, args.site)
    print(f"retired {len(retired)} key(s): {', '.join(retired) or 'none'}")
    return 0


def _site_remove(args: argparse.Namespace) -> int:
    from infra.admin import remove_site

    settings, outputs, prefix = _site_context(args)
    remove_site(settings, prefix, args.site, outputs["ClientSitePolicyArn"])
    print(f"removed site {args.site}")
    return 0
