"""Child-process entry of a sweep run: execute one notebook with papermill.

    python -m mindkit.sweep.execute SRC DST CWD PARAMS_JSON ERROR_FILE TIMEOUT

Exit code 0 when the notebook ran to the end. Otherwise ERROR_FILE receives the failure as JSON
(the failing cell's index and source, the exception name, value and traceback, and
``in_notebook``: whether the notebook's own code raised, which a retry would not cure).
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    src, dst, cwd, params_json, err_file, timeout = argv
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    params = json.loads(params_json)
    try:
        pm.execute_notebook(src, dst, parameters=params, cwd=cwd, kernel_name="python3",
                            progress_bar=False, log_output=True,
                            execution_timeout=int(timeout), start_timeout=120)
        return 0
    except PapermillExecutionError as e:
        err = {"ename": e.ename, "evalue": e.evalue, "cell_index": e.cell_index,
               "exec_count": e.exec_count, "cell_source": e.source[:2000],
               "traceback": "\n".join(e.traceback)[-20000:], "in_notebook": True}
    except BaseException as e:  # noqa: BLE001 - kernel died or failed to start: reported
        err = {"ename": type(e).__name__, "evalue": str(e),
               "traceback": traceback.format_exc()[-20000:], "in_notebook": False}
    Path(err_file).write_text(json.dumps(err, indent=1, default=str))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
