"""`kronos nightly`: build, gate, stage, smoke and promote, with a record of each night (out/nightly)."""
