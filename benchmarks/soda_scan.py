"""Run one Soda Core v3 scan and print its timing and check outcomes as JSON (one line).

Runs in the benchmark's own Soda venv (``benchmarks/.venv-soda``: soda-core-postgres conflicts with
GX's dependencies), never imports ytempire_dq:

    benchmarks/.venv-soda/bin/python benchmarks/soda_scan.py CONFIG.yml CHECKS.yml

Telemetry is off: the global Soda config this script hands to Soda (beside CONFIG.yml) says
``send_anonymous_usage_stats: false`` (otherwise each scan tries to upload spans and, with no
network, retries for seconds). ``seconds`` is ``scan.execute()`` alone (imports excluded).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    config, checks = Path(sys.argv[1]), Path(sys.argv[2])
    global_cfg = config.parent / "soda_global_config.yml"
    global_cfg.write_text("send_anonymous_usage_stats: false\n")
    os.environ["SODA_CORE_TELEMETRY_ENABLED"] = "false"
    from soda.common.config_helper import ConfigHelper

    ConfigHelper.get_instance(str(global_cfg))
    t_import = time.perf_counter()
    from soda.scan import Scan

    scan = Scan()
    scan.set_data_source_name("ytempire")
    scan.add_configuration_yaml_file(str(config))
    scan.add_sodacl_yaml_file(str(checks))
    scan.set_scan_definition_name("bench")
    t = time.perf_counter()
    scan.execute()
    seconds = time.perf_counter() - t
    out = {
        "seconds": seconds,
        "setup_seconds": t - t_import,
        "checks": [{"name": c.name, "outcome": str(c.outcome.value if c.outcome else None)} for c in scan._checks],
        "errors": [str(log.message)[:300] for log in scan._logs.logs if log.level.name == "ERROR"][:10],
        "queries": len(getattr(scan._data_source_manager.get_data_source("ytempire"), "queries", []) or []),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
