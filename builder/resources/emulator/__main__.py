"""Run the emulator: ``python3 /opt/builder/emulator HANDLER`` or ``python3 -m builder.resources.emulator HANDLER``."""

import os
import sys

# Like the single script it was: no __pycache__ next to the modules (in an image, a container's layer).
sys.dont_write_bytecode = True

if __package__:
    from .servers import main
else:
    # Run as a folder, ``__package__`` is "": import the package from the folder's parent, as pip's
    # __main__.py does when run from its wheel.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from emulator.servers import main

if __name__ == "__main__":
    sys.exit(main())
