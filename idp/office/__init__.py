"""The counter-office console (`/office`) and the public list of offices (`/offices`)."""
