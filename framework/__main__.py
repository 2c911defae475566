"""``python -m framework`` is the ``framework`` command (also under torchrun/accelerate launch)."""

from framework.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
