CREATE TABLE `key_rotation_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`requested_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `signing_keys` (
	`kid` text PRIMARY KEY NOT NULL,
	`public_jwk` text NOT NULL,
	`encrypted_private_jwk` text,
	`created_at` integer NOT NULL,
	`signs_from` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `signing_keys_signs_from_idx` ON `signing_keys` (`signs_from`);--> statement-breakpoint
CREATE TABLE `write_guards` (
	`reason` text NOT NULL,
	CONSTRAINT "session_live" CHECK("write_guards"."reason" <> 'session'),
	CONSTRAINT "role_current" CHECK("write_guards"."reason" <> 'role')
);
--> statement-breakpoint
ALTER TABLE `sessions` ADD `user_agent` text;