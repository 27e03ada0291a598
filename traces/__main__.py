"""`make traces`: start Phoenix on loopback, run the offline demo exporting to it, print the trace's URL.

Phoenix keeps running (its data in the cache directory, so earlier runs stay listed) until Ctrl-C; with
`--exit` it stops once the URL is printed. `--port` chooses its port (default 6006, Phoenix's own).
"""

from __future__ import annotations

import argparse
import sys

from ._phoenix import PhoenixUnavailable, cache_dir, ensure_phoenix, run_demo, run_phoenix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make traces", description=__doc__)
    parser.add_argument("--port", type=int, default=6006, help="Phoenix's port on 127.0.0.1 (default: 6006)")
    parser.add_argument("--exit", action="store_true", help="stop Phoenix once the trace's URL is printed")
    options = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        python = ensure_phoenix(log)
        log(f"starting Phoenix on http://127.0.0.1:{options.port} ...")
        with run_phoenix(python, cache_dir() / "phoenix-data", port=options.port) as phoenix:
            output, spans, url = run_demo(phoenix)
            print(output.rstrip())
            print(f"\n{len(spans)} spans of the demo's trace are in Phoenix. Open:\n\n    {url}\n", flush=True)
            if not options.exit:
                log("Phoenix keeps running; press Ctrl-C to stop it.")
                _wait_forever()
    except PhoenixUnavailable as exc:
        log(f"make traces: {exc}")
        return 1
    except KeyboardInterrupt:
        log("stopped")
    return 0


def _wait_forever() -> None:
    import threading

    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
