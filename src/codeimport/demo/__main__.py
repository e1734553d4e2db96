"""Run the demo: ``python -m codeimport.demo``."""

import sys

from codeimport.demo.run import main

sys.exit(main())
