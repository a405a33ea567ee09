import sys
from pathlib import Path

# tests/realdata.py (real Debian packages, cached) is importable as `realdata` from every test.
sys.path.insert(0, str(Path(__file__).resolve().parent))
