"""Field work: on-site steps, signing, the offline sync applier, the phone's jobs feed, the photo pipeline."""
