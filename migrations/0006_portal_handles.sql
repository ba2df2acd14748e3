CREATE TABLE `session_handles` (
	`hash` text PRIMARY KEY NOT NULL,
	`session_id` text NOT NULL,
	`kind` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`session_id`) REFERENCES `sessions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `session_handles_session_id` ON `session_handles` (`session_id`);--> statement-breakpoint
ALTER TABLE `sessions` ADD `identity` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `identity_expires_at` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `form_nonce` text;--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_form_nonce` ON `tokens` (`form_nonce`);