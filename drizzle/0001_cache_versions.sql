CREATE TABLE `stale_purges` (
	`key` text PRIMARY KEY NOT NULL,
	`recorded_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stale_purges_recorded_at_idx` ON `stale_purges` (`recorded_at`);--> statement-breakpoint
ALTER TABLE `users` ADD `version` integer DEFAULT 1 NOT NULL;