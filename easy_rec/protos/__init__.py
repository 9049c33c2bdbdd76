"""Generated protobuf modules of the pipeline-config language (see protos/)."""
