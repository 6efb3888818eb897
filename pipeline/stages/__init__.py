"""The stages: each does one step of a run. They read what other stages committed through
the run layer (pipeline.run), never by importing another stage."""
