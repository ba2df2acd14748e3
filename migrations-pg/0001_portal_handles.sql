CREATE TABLE "session_handles" (
	"hash" text PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"kind" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "identity" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "identity_expires_at" bigint;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "form_nonce" text;--> statement-breakpoint
ALTER TABLE "session_handles" ADD CONSTRAINT "session_handles_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "session_handles_session_id" ON "session_handles" USING btree ("session_id");--> statement-breakpoint
CREATE UNIQUE INDEX "tokens_form_nonce" ON "tokens" USING btree ("form_nonce");