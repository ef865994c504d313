"""Client preparation (chunk, compress, hash) against the zstd and sha256sum commands.

Client: ``client.staging.stage``, the code the engine runs on every drop:
read 8 MiB chunks, compress each with zstd level 3, hash every stored chunk
and the whole file, write the chunks to the spool folder.

Reference, in the same run and on the same file: ``zstd -3 -T1`` to a file
(the client compresses in one thread, so the command gets one too), then
``sha256sum`` of the original and the compressed file: the same work a user
would do by hand. Coreutils' sha256sum does not use the CPU's SHA extensions,
so a stricter reference with ``openssl dgst -sha256`` is reported beside it,
and so is zstd alone. Throughput is the original size over wall time; each
side runs ``runs`` times, alternating, and the median counts.
"""

from __future__ import annotations

import shutil
import subprocess

from bench.common import Context, MiB, Outcome, median, say, timer, verdict
from bench.data import mixed_ratio_note, write_mixed

TARGET = 0.8


def _command(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"bench prep needs the {name} command (apt-get install {name})")
    return found


def run(ctx: Context) -> Outcome:
    from client.staging import stage
    from shared.config import ClientSettings

    defaults = ClientSettings()
    mib = ctx.pick(32, 512, multiple=4)
    runs = 3
    zstd, sha256sum, openssl = _command("zstd"), _command("sha256sum"), shutil.which("openssl")
    home = ctx.folder("prep")
    source = home / "mixed.bin"
    say(f"prep: writing {mib} MiB of mixed data")
    write_mixed(source, mib)
    spool = home / "spool"
    packed = home / "mixed.bin.zst"
    client_s: list[float] = []
    zstd_s: list[float] = []
    sha_s: list[float] = []
    openssl_s: list[float] = []
    stored = 0
    for n in range(runs):
        say(f"prep: run {n + 1} of {runs}")
        with timer() as t:
            staged = stage(source, spool, defaults.chunk_size, defaults.zstd_level)
        client_s.append(t[0])
        stored = sum(p.stat().st_size for p in spool.iterdir())
        assert staged.compression == "zstd" and staged.size == mib * MiB
        shutil.rmtree(spool)
        level = f"-{defaults.zstd_level}"
        with timer() as t:
            subprocess.run(
                [zstd, level, "-T1", "-q", "-f", str(source), "-o", str(packed)], check=True
            )
        zstd_s.append(t[0])
        with timer() as t:
            subprocess.run([sha256sum, str(source), str(packed)], check=True, capture_output=True)
        sha_s.append(t[0])
        if openssl:
            with timer() as t:
                subprocess.run(
                    [openssl, "dgst", "-sha256", str(source), str(packed)],
                    check=True,
                    capture_output=True,
                )
            openssl_s.append(t[0])
        packed_size = packed.stat().st_size
        packed.unlink()
    size_mib = float(mib)
    client = size_mib / median(client_s)
    reference = size_mib / (median(zstd_s) + median(sha_s))
    ratio = client / reference
    figures: dict[str, object] = {
        "file_mib": mib,
        "data": mixed_ratio_note(),
        "runs": runs,
        "client_mib_s": round(client),
        "reference_mib_s": round(reference),
        "ratio": round(ratio, 2),
        "zstd_only_mib_s": round(size_mib / median(zstd_s)),
        "ratio_to_zstd_only": round(client / (size_mib / median(zstd_s)), 2),
        "client_stored_mib": round(stored / MiB, 1),
        "zstd_stored_mib": round(packed_size / MiB, 1),
        "client_s": [round(s, 2) for s in client_s],
        "zstd_s": [round(s, 2) for s in zstd_s],
        "sha256sum_s": [round(s, 2) for s in sha_s],
    }
    if openssl_s:
        strict = size_mib / (median(zstd_s) + median(openssl_s))
        figures["strict_reference_mib_s"] = round(strict)
        figures["ratio_to_strict"] = round(client / strict, 2)
        figures["openssl_s"] = [round(s, 2) for s in openssl_s]
    met = ratio >= TARGET
    headline = (
        f"prep {mib} MiB: client {client:.0f} MiB/s, zstd -T1 + sha256sum {reference:.0f} MiB/s,"
        f" ratio {ratio:.2f} (target >= {TARGET}: {verdict(met)})"
    )
    return Outcome("prep", headline, figures, met)
