"""Stage entry points: each downloads its inputs, runs one library step, uploads its outputs.

These are what `python -m tasks <stage>` runs, in a pod or as a local subprocess.
"""
