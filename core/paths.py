"""Where the lab keeps what it must not lose (jobs, recordings): a leaf module, so any screen can
ask for the folder without loading the batch runner or LangChain."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DATA_DIR_ENV = "LAB_DATA_DIR"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the app keeps data it must not lose: `LAB_DATA_DIR`, else `<project>/.lab-data`.

    Example:
        >>> data_dir({"LAB_DATA_DIR": "/tmp/lab"})
        PosixPath('/tmp/lab')
    """
    env = os.environ if env is None else env
    value = (env.get(DATA_DIR_ENV) or "").strip()
    return Path(value).expanduser() if value else PROJECT_ROOT / ".lab-data"
