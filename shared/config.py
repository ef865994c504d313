"""One configuration loader for every part: defaults, then a TOML file, then
the environment, then command-line flags (each overriding the one before).

Settings are grouped by the part that reads them. The full list, with units
and defaults, is ``docs/configuration.md``; the defaults below are the source
of truth and a test keeps the two in step.

Environment variables are ``FPW_<GROUP>_<NAME>`` in upper case, for example
``FPW_AWS_ENDPOINT_URL`` or ``FPW_FETCHER_PROCESSOR_URL``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ConfigError

CONFIG_ENV = "FPW_CONFIG"
# Where ``fpw up`` writes the settings of the local stack it runs; later
# commands started in the same folder (``fpw submit``) find it without flags.
LOCAL_CONFIG = Path(".fpw") / "config.toml"
# Beside it, the admin's settings of that stack: admin commands (``fpw status``,
# ``fpw check``, ``fpw clients``, ``fpw infra``, ``fpw admin``) look here first.
ADMIN_CONFIG = Path(".fpw") / "admin.toml"
USER_CONFIG = Path("~/.config/fpw/config.toml")


@dataclass
class AwsSettings:
    region: str = "us-east-1"
    """AWS region of the deployment. When no settings file, ``FPW_AWS_REGION`` or flag sets
    it: the AWS configuration's (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's
    ``region``), and this default only when that names none."""
    endpoint_url: str | None = None
    """Override for every AWS endpoint (the local stack); None means AWS itself."""
    profile: str | None = None
    """Named AWS profile for the base credentials; None means the default chain."""
    access_key_id: str | None = None
    """Explicit base credentials (the local stack hands these out)."""
    secret_access_key: str | None = field(default=None, repr=False)
    """Secret of ``access_key_id`` (never in a repr, so never in a log or a traceback)."""
    role_arn: str | None = None
    """Role to assume on top of the base credentials (refreshed automatically)."""
    table: str = "fpw-jobs"
    """DynamoDB table of job records."""
    clients_table: str = "fpw-clients"
    """DynamoDB table of registered client keys."""
    joins_table: str = "fpw-joins"
    """DynamoDB table of requests to join (``client.join``), written with the site's own
    credentials, not the client role."""
    bucket: str = "fpw-data"
    """S3 bucket for chunks and large results."""
    queue_shards: int = 4
    """Number of values of the sparse ``queue`` index key."""
    stream_arn: str | None = None
    """The jobs table's stream; None means look it up (ListStreams)."""


@dataclass
class ClientSettings:
    inbox: Path = Path("inbox")
    """Watched folder."""
    results: Path | None = None
    """Where decrypted results are written; default ``<inbox>/results``."""
    done: Path | None = None
    """Where originals move once their result is saved; default ``<inbox>/done``."""
    state_dir: Path = Path("~/.local/share/fpw")
    """Key pair and the SQLite state database."""
    chunk_size: int = 8 * 1024 * 1024
    """Bytes of input per chunk."""
    zstd_level: int = 3
    """zstd level for compressible chunks."""
    upload_concurrency: int = 4
    """Chunks uploaded in parallel."""
    stable_seconds: float = 1.0
    """A file must keep its size and mtime this long before it is taken (a writer closing it
    between bursts does not end the wait); where the system reports it (inotify on Linux),
    a file moved in whole (renamed into the folder) is taken sooner (``moved_settle_seconds``)."""
    moved_settle_seconds: float = 0.1
    """A file moved in whole (renamed into the folder: its content is final) is taken once
    unchanged this long, where the system reports moves (inotify on Linux); a change
    after it was taken sends the final content as a new job."""
    poll_seconds: float = 0.5
    """How often pending jobs are checked for results (one query per check, made only
    while jobs are pending)."""
    fast_poll_seconds: float = 0.1
    """How often they are checked instead while one is expected to finish soon (see
    ``fast_poll_window_seconds``); 0 turns this off (every check at ``poll_seconds``)."""
    fast_poll_window_seconds: float = 3.0
    """A job counts as expected to finish soon from the end of its upload until this long
    after it, plus a second per 10 MiB of the file (the fetcher's download and merge)."""
    max_result_bytes: int = 1024 * 1024 * 1024
    """Largest sealed result this desktop downloads; a bigger one fails its job unread
    (a result is held in memory once while it is decrypted)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Processing profile and options sent with every job from the inbox."""
    folders: dict[str, Any] = field(default_factory=dict)
    """More watched folders, each mapped to the params sent with its files."""
    accelerate: bool = False
    """Use S3 Transfer Acceleration for uploads."""
    update_url: str | None = None
    """Where releases are published: ``s3://bucket/prefix`` (read with the client's
    AWS credentials) or an ``https://`` URL; None turns update checks off."""
    update_check_hours: float = 0.0
    """Also look for a new version this often (only to say so); 0 checks only when asked."""
    install_dir: Path | None = None
    """Where updates are installed (``versions/``, ``current``); default: beside the
    running bundle's ``versions`` folder, else ``<state_dir>/app``."""
    html_reports: bool = False
    """Also write each JSON result as a readable HTML page beside it (``<name>.result.html``:
    one file, pictures inlined, nothing fetched); the tray app's viewer shows the same page
    and writes it on request."""
    join: bool = False
    """Ask to join: file a request carrying this computer's key, name and user, which an
    administrator approves (``fpw clients approve``); nothing is sent until then. Off: the
    key is registered by id (``fpw clients register``)."""
    join_expiry_hours: float = 72.0
    """A join request not decided in this time expires; the desktop then says so and
    stops waiting (a restart asks again)."""
    fleet_keys: list[str] = field(default_factory=list)
    """Fleet public keys (``fleet-04…``) whose signed results are accepted; any other
    result is refused. Two during a rotation. In the environment: comma-separated."""


@dataclass
class FetcherSettings:
    processor_url: str = "http://127.0.0.1:8080"
    """Base URL of the analysis container."""
    work_dir: Path = Path("/tmp/fpw-fetcher")
    """Scratch space for merged files."""
    supported_versions: str = ">=0.1.0 <1.0.0"
    """Client versions this fetcher accepts (semver range, space means AND)."""
    poll_seconds: float = 2.0
    """Mean interval between queue-index scans while idle (jittered)."""
    heartbeat_seconds: float = 5.0
    """How often the holder refreshes ``heartbeat``."""
    chunk_wait_seconds: float = 300.0
    """How long to wait for a chunk that the client has not uploaded yet."""
    chunk_retry_seconds: float = 0.05
    """First pause before looking again for a chunk not uploaded yet; each next pause
    doubles, up to 2 s (a job may be claimed while its client still uploads)."""
    processor_timeout_seconds: float = 600.0
    """Time limit of one processor call: upload, analysis and answer together (the
    connection is closed at the limit, however slowly the answer arrives)."""
    processor_retries: int = 3
    """Retries of a retryable processor failure before the job is given back."""
    analysis_deadline_seconds: float = 1800.0
    """Time limit of one job's analysis: every processor call, retry and wait for a busy
    processor (503) together. Past it the job is given back, or ends as ERROR when this
    was its last attempt."""
    processor_max_answer_bytes: int = 256 * 1024 * 1024
    """Largest analysis result accepted; a larger answer ends the job as ERROR (only
    this much is ever held in memory)."""
    download_concurrency: int = 4
    """Chunks downloaded in parallel."""
    pipelined: bool = True
    """Prepare the next jobs (claim, download, verify, merge) while the current ones are
    analysed, keeping the container fed; false: one job at a time."""
    processor_capacity: int = 0
    """Analyses kept in flight at once (pipelined); 0: the ``capacity`` the container
    declares in ``GET /health`` (1 when it declares none)."""
    prefetch_jobs: int = 0
    """Jobs held claimed and prepared but not yet analysed (pipelined); 0: one per
    analysis slot. Each keeps its heartbeat and is given back at once on SIGTERM."""
    result_retention_seconds: int = 7 * 24 * 3600
    """A finished job (and its result) expires by TTL this long after it ends."""
    inline_result_bytes: int = 350_000
    """Encrypted results up to this size live in the record; larger ones go to S3."""
    claim_spread: int = 0
    """Candidates, in rank order, a fetcher picks among at random when it claims (fetchers
    reading the index together then rarely race for one job); 0 scales it with
    ``fetcher.fleet_size``: one per ten fetchers, at least 4."""
    fleet_size: int = 1
    """Fetchers the fleet may run at once (the template's ``MaxTasks``); sizes the claim
    spread when ``fetcher.claim_spread`` is 0."""
    claim_misses: int = 8
    """Candidates of one index read found taken by others, in a row, after which a fetcher
    drops the rest of that read (each costs a read); 0 tries them all."""
    stream_readers: int = 1
    """Fetchers of the fleet that read the table's stream at once (0 to 2; leased)."""
    lease_seconds: float = 30.0
    """Life of a stream-reader lease; the holder renews it at a third of that."""
    stream_poll_seconds: float = 0.5
    """Pause between reads of the stream while holding a lease (each read: one GetRecords
    per shard, and a DescribeStream when the shard list is renewed, see
    ``stream_describe_seconds``); half of it is the mean wait for a hint."""
    stream_fast_poll_seconds: float = 0.1
    """The pause instead while the stream is busy (it had records in the last
    ``stream_busy_seconds``); 0 turns this off (every pause ``stream_poll_seconds``)."""
    stream_busy_seconds: float = 10.0
    """How long after its last record the stream counts as busy."""
    stream_describe_seconds: float = 60.0
    """How long the stream's list of shards is reused between reads (a shard read to its
    end has it listed again at once, so its children are read without delay); 0 lists
    the shards at every read (one more round trip before each hint)."""
    peek_hinted_jobs: bool = False
    """Read a job announced by the stream before claiming it, as one found in the queue
    index is; false: the size the stream record carries is enough to check room (one
    round trip less between a hint and its claim)."""
    shutdown_grace_seconds: float = 60.0
    """On SIGTERM, time to finish the job at hand before giving it back to the queue."""
    processor_shared_dir: Path | None = None
    """A volume shared with the processor: merged files are handed over by path."""
    fleet_key_file: Path | None = None
    """PEM file of the fleet's P-256 private key, which signs every result; desktops
    accept only results signed by a key they pin (``client.fleet_keys``)."""
    fleet_key_pem: str | None = None
    """The fleet key's PEM text itself (on AWS an ECS secret from Secrets Manager);
    used instead of ``fleet_key_file`` when set."""


@dataclass
class WatcherSettings:
    interval_seconds: float = 30.0
    """Time between sweeps when looping; also the most a sweep spends on
    delivery receipts, so a backlog never holds back the stalled-job pass for
    longer."""
    stall_seconds: float = 60.0
    """A PROCESSING job whose heartbeat is older than this is stalled."""
    max_attempts: int = 3
    """Claims before a job ends as ERROR (fetchers honour it too)."""
    upload_timeout_seconds: float = 3600.0
    """A QUEUED job whose chunks are still missing after this ends as ERROR."""
    orphan_grace_seconds: float = 3600.0
    """An object with no job is deleted once it is this old (uploads in flight are younger)."""
    deployment: str = "fpw"
    """Value of the ``Deployment`` dimension of the metrics (the stack's Prefix)."""
    metrics: bool = True
    """Publish queue metrics to CloudWatch (namespace ``FPW``) after each sweep."""
    alert_topic_arn: str | None = None
    """SNS topic for alerts (the template's ``AlertTopicArn``); None sends none."""
    webhook_url: str | None = None
    """Also POST each alert as JSON here (chat, paging service); None sends none."""
    alert_queue_depth: int = 500
    """Alert when this many jobs are queued."""
    alert_oldest_seconds: float = 900.0
    """Alert when the oldest queued job has waited this long."""
    alert_errors: int = 20
    """Alert when this many jobs ended in ERROR in the last five minutes."""
    full_sweep_seconds: float = 86400.0
    """A sweep reads the whole table at the watcher's start and then once this
    often (0: never), to find records the indexes miss (malformed ones, or
    claimed by an older fetcher); every other sweep reads the queue and sweep
    indexes, whose size follows the jobs in flight, not the table."""


@dataclass
class Settings:
    aws: AwsSettings = field(default_factory=AwsSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    fetcher: FetcherSettings = field(default_factory=FetcherSettings)
    watcher: WatcherSettings = field(default_factory=WatcherSettings)


GROUPS = tuple(f.name for f in dataclasses.fields(Settings))


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """Turn a TOML or environment value into the type a setting declares."""
    hint = annotation
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("", "none")):
            return None
        hint = args[0]
        origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if hint is float:
            return float(value)
        if hint is Path:
            return Path(str(value))
        if hint is str:
            return str(value)
        if origin is list:
            items = value.replace(",", " ").split() if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise ValueError(value)
            return list(items)
        if origin is dict:
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, dict):
                raise ValueError(value)
            return parsed
    except (TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"setting {name} has an invalid value {value!r}",
            hint=f"expected {getattr(hint, '__name__', hint)}",
        ) from exc
    return value


def _apply(settings: Settings, values: Mapping[str, Any], source: str) -> None:
    for key, value in values.items():
        group_name, _, name = key.partition(".")
        group = getattr(settings, group_name, None)
        hints = typing.get_type_hints(type(group)) if group is not None and name else {}
        if name not in hints:
            raise ConfigError(f"unknown setting {key!r} in {source}")
        setattr(group, name, _coerce(value, hints[name], key))


def _flatten(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for group, values in data.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{group}] must be a table of settings")
        for name, value in values.items():
            flat[f"{group}.{name}"] = value
    return flat


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Settings named by ``FPW_<GROUP>_<NAME>`` variables."""
    found: dict[str, str] = {}
    for group in GROUPS:
        prefix = f"FPW_{group.upper()}_"
        for key, value in environ.items():
            if key.startswith(prefix):
                found[f"{group}.{key[len(prefix) :].lower()}"] = value
    return found


def config_path(
    explicit: str | os.PathLike[str] | None, environ: Mapping[str, str], *, admin: bool = False
) -> Path | None:
    """The settings file in force: the flag, ``$FPW_CONFIG``, ``./.fpw``, then the user's.

    ``admin`` commands try ``./.fpw/admin.toml`` before ``./.fpw/config.toml``, which
    holds the local client's settings and role.
    """
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    candidates: list[Path] = [ADMIN_CONFIG] if admin else []
    for candidate in [*candidates, LOCAL_CONFIG, USER_CONFIG.expanduser()]:
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    admin: bool = False,
) -> Settings:
    """Defaults, then the file, then the environment, then ``overrides`` (flags).

    ``overrides`` maps ``group.name`` to a value; ``None`` values are skipped
    so that unset flags do not hide the file or the environment. ``admin``:
    see ``config_path``.
    """
    env = os.environ if environ is None else environ
    settings = Settings()
    region_given = False
    file = config_path(path, env, admin=admin)
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"settings file {file} does not exist")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {file} is not valid TOML: {exc}") from exc
        flat = _flatten(data, str(file))
        _apply(settings, flat, str(file))
        region_given = "aws.region" in flat
    from_env = env_overrides(env)
    _apply(settings, from_env, "the environment")
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    _apply(settings, given, "the flags")
    if not (region_given or "aws.region" in from_env or "aws.region" in given):
        settings.aws.region = aws_config_region(settings.aws.profile, env) or settings.aws.region
    return settings


def aws_config_region(profile: str | None, environ: Mapping[str, str]) -> str | None:
    """The region the operator's AWS configuration names, as the AWS CLI reads it:
    ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's ``region`` in
    ``~/.aws/config`` (or ``$AWS_CONFIG_FILE``); None when it names none."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(name):
            return environ[name]
    import botocore.exceptions
    import botocore.session

    try:
        core = botocore.session.Session(profile=profile or environ.get("AWS_PROFILE") or None)
        region = core.get_scoped_config().get("region")
    except botocore.exceptions.BotoCoreError:
        return None  # an unknown profile: the credentials lookup says so, by name
    return str(region) if region else None


def dump_toml(values: Mapping[str, Mapping[str, Any]]) -> str:
    """Write a small settings file (strings, numbers, booleans and tables only)."""
    lines: list[str] = []
    for group, entries in values.items():
        lines.append(f"[{group}]")
        for name, value in entries.items():
            if value is None:
                continue
            lines.append(f"{name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    return json.dumps(str(value))
