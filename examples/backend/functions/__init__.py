"""Lambda functions of the example backend, one subpackage per area."""
