CREATE TABLE `user_profiles` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`email` text,
	`first_name` text,
	`last_name` text,
	`organisation` text,
	`provider` text,
	`provider_id` text,
	`roles` text,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
