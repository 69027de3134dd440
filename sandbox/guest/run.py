"""Start the guest agent from its compiled module.

Python compiles a script it runs (``python agent.py``) from source at every start, and never
caches it; compiling the agent's source leaves about 5 MB in the heap of a process that lives as
long as the sandbox. Imported, the agent loads from the bytecode the host put beside it (see
``sandbox.guest_files.write_bytecode``), or compiles as before where that does not fit the
interpreter.
"""

import sys

import agent  # type: ignore[import-not-found]

sys.exit(agent.main())
