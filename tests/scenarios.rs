// scenarios on sample-logs: written once the generator lands
