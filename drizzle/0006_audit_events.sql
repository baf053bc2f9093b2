CREATE TABLE `audit_events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`occurred_at` integer NOT NULL,
	`actor_user_id` text,
	`actor_ip` text,
	`actor_user_agent` text,
	`target_type` text NOT NULL,
	`target_id` text NOT NULL,
	`data` text NOT NULL,
	`request_id` text,
	CONSTRAINT "audit_events_user_agent_length" CHECK(length("audit_events"."actor_user_agent") <= 256),
	CONSTRAINT "audit_events_data_length" CHECK(length("audit_events"."data") <= 2048)
);
--> statement-breakpoint
CREATE INDEX `audit_events_occurred_at_id_idx` ON `audit_events` (`occurred_at`,`id`);--> statement-breakpoint
CREATE INDEX `audit_events_type_idx` ON `audit_events` (`type`,`occurred_at`,`id`);--> statement-breakpoint
CREATE INDEX `audit_events_actor_idx` ON `audit_events` (`actor_user_id`,`occurred_at`,`id`);--> statement-breakpoint
CREATE INDEX `audit_events_target_idx` ON `audit_events` (`target_id`,`occurred_at`,`id`);