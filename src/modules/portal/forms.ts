// The portal's forms: how a POST's fields are read (repeated fields, such as
// checkboxes, as arrays), refused unread beyond MAX_BODY_BYTES.
import { t } from "elysia";
import { Refusal } from "../../refusal.ts";
import { MAX_BODY_BYTES } from "../errors.ts";

export const FormBody = t.Record(t.String(), t.Union([t.String(), t.Array(t.String())]));
export type Form = Record<string, string | string[]>;
export const field = (form: Form, name: string) => {
  const value = form[name];
  return (Array.isArray(value) ? value[value.length - 1] : value)?.trim() ?? "";
};
export const fields = (form: Form, name: string) => {
  const value = form[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
};
/** A day as a date field sends it (and as the audit page's query carries it): 2026-12-07. */
export const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** An HTML form, with repeated fields (checkboxes) as arrays; refused unread beyond MAX_BODY_BYTES. */
export async function parseForm({ request, contentType }: { request: Request; contentType: string }): Promise<Form> {
  if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) throw new Refusal(413, "The form is too large");
  if (!contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) throw new Refusal(415, "Send the portal's forms as forms");
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) throw new Refusal(413, "The form is too large");
  const form: Form = {};
  for (const [name, value] of new URLSearchParams(text)) {
    const known = form[name];
    form[name] = known === undefined ? value : Array.isArray(known) ? [...known, value] : [known, value];
  }
  return form;
}
