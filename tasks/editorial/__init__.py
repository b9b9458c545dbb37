"""Editorial export: the shot list as an OpenTimelineIO timeline and a CMX3600 EDL."""
