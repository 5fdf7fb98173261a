import pathlib
import sys

# the benchmarks share the grid and data generator of compare.py
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
