"""Settings for the whole test suite.

Compiling ahead in the background (``fastnn._compile.compile_ahead``) is
turned off, here and in every child process the tests start: it would make
which process compiles a kernel, and how busy the cores are, depend on
timing.  ``test_compile`` turns it on where it tests it.
"""

import os

os.environ["FASTNN_BACKGROUND_COMPILE"] = "0"
