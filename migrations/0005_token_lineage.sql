ALTER TABLE `tokens` ADD `session_id` text;--> statement-breakpoint
CREATE INDEX `tokens_parent_id` ON `tokens` (`parent_id`);--> statement-breakpoint
CREATE INDEX `tokens_session_id` ON `tokens` (`session_id`);