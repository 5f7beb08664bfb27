"""The catalog's HTTP routes, in the legacy shapes: channels, videos and their upload, channel
recommendations, video error reports, admin analytics."""
