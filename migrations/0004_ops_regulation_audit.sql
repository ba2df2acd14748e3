CREATE TABLE `regulation_counters` (
	`kind` text NOT NULL,
	`subject` text NOT NULL,
	`failures` integer NOT NULL,
	`window_started_at` integer NOT NULL,
	`banned_until` integer,
	PRIMARY KEY(`kind`, `subject`)
);
--> statement-breakpoint
CREATE INDEX `regulation_counters_banned_until` ON `regulation_counters` (`banned_until`);--> statement-breakpoint
CREATE INDEX `audit_log_event_id` ON `audit_log` (`event`,`id`);--> statement-breakpoint
CREATE INDEX `audit_log_actor_id` ON `audit_log` (`actor_username`,`id`);--> statement-breakpoint
CREATE INDEX `audit_log_target_id` ON `audit_log` (`target_username`,`id`);