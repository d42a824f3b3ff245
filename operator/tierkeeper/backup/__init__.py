"""Backups of an Environment's database: the dumps the backup CronJob writes, and
restoring them (`tierkeeper restore`), including the drill that proves one is good."""
