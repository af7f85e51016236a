"""`python -m ntscale` is the same as the `ntscale` command."""

from ntscale.cli.main import main

if __name__ == "__main__":
    main()
