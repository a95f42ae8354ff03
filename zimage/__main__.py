import sys

from .devices import prefer_expandable_segments

prefer_expandable_segments()  # before torch allocates on the GPU

from .cli import main  # noqa: E402

sys.exit(main())
