import sys

from llmward.cli import main

sys.exit(main())
