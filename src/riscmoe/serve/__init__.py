"""riscmoe as a service: answer requests over HTTP and learn from feedback while answering.

- ``service``: a saved recognition system with its learner, the served copy and the feedback log;
- ``functions``: a functions library behind ``/solve``;
- ``log``: the feedback log (fsynced before each acknowledgement, replayed on restart);
- ``auth``: read and write tokens; ``app``: the HTTP endpoints and ``riscmoe serve``;
- ``page``: the page at ``/``.

FastAPI and uvicorn come with the ``serve`` extra (``pip install 'riscmoe[serve]'``).
"""
