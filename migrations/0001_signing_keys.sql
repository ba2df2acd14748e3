CREATE TABLE `signing_keys` (
	`kid` text PRIMARY KEY NOT NULL,
	`alg` text NOT NULL,
	`state` text NOT NULL,
	`public_jwk` text NOT NULL,
	`private_key_sealed` text NOT NULL,
	`created_at` integer NOT NULL,
	`activates_at` integer,
	`activated_at` integer,
	`deactivated_at` integer,
	`retires_at` integer,
	`retired_at` integer
);
--> statement-breakpoint
CREATE INDEX `signing_keys_state` ON `signing_keys` (`state`);