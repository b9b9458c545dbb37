import os

# Before numpy loads: OpenBLAS otherwise starts a thread per core that spins while idle. No
# stage does BLAS work worth threads (their parallelism is decode segments and onnxruntime's
# or torch's own pools); on a 2-core detect-shots pod the spinning cost 0.1-0.5 s of CPU.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from tasks.cli import main

raise SystemExit(main())
