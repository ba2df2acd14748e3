ALTER TABLE `tokens` ADD `family_id` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `rotated_from` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `rotated_to` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `rotated_until` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `allowed_networks` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `revoked_reason` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `expiry_notified_at` integer;--> statement-breakpoint
CREATE INDEX `tokens_family_id` ON `tokens` (`family_id`);