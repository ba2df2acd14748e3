ALTER TABLE "tokens" ADD COLUMN "family_id" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "rotated_from" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "rotated_to" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "rotated_until" bigint;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "allowed_networks" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "revoked_reason" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "expiry_notified_at" bigint;--> statement-breakpoint
CREATE INDEX "tokens_family_id" ON "tokens" USING btree ("family_id");