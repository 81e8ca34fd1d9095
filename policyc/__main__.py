"""`python -m policyc` runs the CLI."""

from policyc.cli import main

main()
