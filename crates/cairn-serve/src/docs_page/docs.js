// The API page: the server's own OpenAPI document, listed route by route, each with a form
// that sends a request to this server and shows the answer. Nothing is fetched from anywhere
// else (the page's Content-Security-Policy allows this origin only).
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function example(schema, doc, depth) {
  if (!schema || depth > 6) return null;
  if (schema.$ref) return example(doc.components.schemas[schema.$ref.split("/").pop()], doc, depth + 1);
  if (schema.example !== undefined) return schema.example;
  const pick = schema.oneOf || schema.anyOf;
  if (pick) return example(pick[0], doc, depth + 1);
  if (schema.type === "object" && schema.properties) {
    const out = {};
    for (const [k, v] of Object.entries(schema.properties)) out[k] = example(v, doc, depth + 1);
    return out;
  }
  if (schema.type === "array") return [example(schema.items, doc, depth + 1)];
  if (schema.type === "number" || schema.type === "integer") return schema.minimum ?? 0;
  if (schema.type === "boolean") return false;
  if (schema.type === "string") return schema.enum ? schema.enum[0] : "";
  return null;
}

function operation(path, method, op, doc) {
  const params = op.parameters || [];
  const body = op.requestBody && op.requestBody.content;
  const type = body && Object.keys(body)[0];
  const inputs = {};
  const rows = params.map((p) => {
    inputs[p.name] = el("input", { name: p.name, placeholder: p.in });
    return el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, inputs[p.name]), el("td", {}, p.description || ""));
  });
  const text = el("textarea", { "aria-label": "request body" });
  if (body) {
    const media = body[type];
    const sample = media.example ?? example(media.schema, doc, 0);
    text.value = typeof sample === "string" ? sample : JSON.stringify(sample, null, 2);
  }
  const answer = el("pre", { class: "answer" });
  const send = el("button", { type: "button" }, "Send");
  send.addEventListener("click", async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const p of params) {
      const v = inputs[p.name].value;
      if (p.in === "path") url = url.replace("{" + p.name + "}", encodeURIComponent(v));
      else if (v !== "") query.set(p.name, v);
    }
    if ([...query].length) url += "?" + query;
    const init = { method: method.toUpperCase() };
    if (body) init.body = text.value, init.headers = { "Content-Type": type };
    answer.textContent = "…";
    try {
      const r = await fetch(url, init);
      answer.textContent = r.status + " " + r.statusText + "\n" + (await r.text());
    } catch (e) {
      answer.textContent = String(e);
    }
  });
  const statuses = Object.entries(op.responses || {}).map(([code, r]) => el("tr", {}, el("td", {}, code), el("td", {}, r.description || "")));
  return el("details", { class: "route" },
    el("summary", {}, el("span", { class: "method " + method }, method), el("h2", { class: "path" }, path), el("span", { class: "summary" }, op.summary || "")),
    op.description ? el("p", {}, op.description) : "",
    rows.length ? el("table", {}, ...rows) : "",
    body ? el("div", {}, el("p", {}, "Body (" + type + ")"), text) : "",
    el("table", {}, el("tr", {}, el("th", {}, "Status"), el("th", {}, "Meaning")), ...statuses),
    send, answer);
}

async function main() {
  const doc = await (await fetch("/openapi.json")).json();
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("about").textContent = doc.info.description || "";
  const routes = document.getElementById("routes");
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ["get", "post", "put", "delete"]) {
      if (item[method]) routes.append(operation(path, method, item[method], doc));
    }
  }
  routes.setAttribute("data-loaded", String(routes.children.length));
}

main().catch((e) => { document.getElementById("about").textContent = "Could not read /openapi.json: " + e; });
