"""Who the fake says it is."""

LMSTUDIO_VERSION = "0.4.4+1"  # the LM Studio version the fake reports (/lms-status, the SDK's version)
