// The official @lmstudio/sdk against a fake LM Studio: node check.mjs ws://127.0.0.1:PORT
// Prints one JSON object with what each call returned (or the error it raised).
import { LMStudioClient, rawFunctionTool } from "@lmstudio/sdk";

const baseUrl = process.argv[2];
const out = {};
const step = async (name, fn) => {
  try {
    out[name] = await fn();
  } catch (error) {
    out[name] = { error: String(error && error.message ? error.message : error) };
  }
};

const client = new LMStudioClient({ baseUrl, logger: { info() {}, warn() {}, error() {}, debug() {} } });

await step("version", async () => (await client.system.getLMStudioVersion()).version);
await step("downloaded", async () => (await client.system.listDownloadedModels()).map((m) => m.modelKey));
await step("load", async () => {
  const model = await client.llm.load("google/gemma-3-1b", {
    identifier: "js-gemma",
    config: { contextLength: 8192 },
    ttl: 60,
  });
  return { identifier: model.identifier, contextLength: await model.getContextLength() };
});
await step("loaded", async () => (await client.llm.listLoaded()).map((m) => m.identifier));
await step("anyModel", async () => (await (await client.llm.model()).getModelInfo()).identifier);
await step("respond", async () => {
  const model = await client.llm.model("js-gemma");
  const result = await model.respond("Hello from JS");
  return { content: result.content, stopReason: result.stats.stopReason };
});
await step("stream", async () => {
  const model = await client.llm.model("js-gemma");
  const prediction = model.respond("Hello from JS");
  const fragments = [];
  for await (const fragment of prediction) fragments.push(fragment.content);
  const result = await prediction.result();
  return { fragments: fragments.length, joined: fragments.join(""), content: result.content };
});
await step("complete", async () => {
  const model = await client.llm.model("js-gemma");
  return (await model.complete("Once upon a time")).content;
});
await step("structured", async () => {
  const model = await client.llm.model("js-gemma");
  const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"] };
  const result = await model.respond("A number", { structured: { type: "json", jsonSchema: schema } });
  return JSON.parse(result.content);
});
await step("tokens", async () => {
  const model = await client.llm.model("js-gemma");
  return { tokens: (await model.tokenize("Hello world!")).length, count: await model.countTokens("Hello world!") };
});
await step("act", async () => {
  const calls = [];
  const weather = rawFunctionTool({
    name: "get_weather",
    description: "Get the weather in a city",
    parametersJsonSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    implementation: ({ city }) => {
      calls.push(city);
      return `sunny in ${city}`;
    },
  });
  const model = await client.llm.model("qwen/qwen3-4b");
  const result = await model.act("What is the weather in Paris?", [weather]);
  return { rounds: result.rounds, calls };
});
await step("reasoning", async () => {
  const model = await client.llm.model("qwen/qwen3-4b");
  const prediction = model.respond("Why is the sky blue?");
  const kinds = [];
  for await (const fragment of prediction) kinds.push(fragment.reasoningType);
  const result = await prediction.result();
  return {
    kinds: [...new Set(kinds)],
    content: result.content,
    reasoning: result.reasoningContent,
    answer: result.nonReasoningContent,
  };
});
await step("cancel", async () => {
  const model = await client.llm.model("js-gemma");
  const prediction = model.respond("Tell me something long");
  let seen = 0;
  for await (const fragment of prediction) {
    seen += 1;
    if (seen === 1) prediction.cancel();
  }
  return (await prediction.result()).stats.stopReason;
});
await step("embed", async () => {
  const model = await client.embedding.model("text-embedding-nomic-embed-text-v1.5");
  return (await model.embed("hello")).embedding.length;
});
await step("logs", async () => {
  const events = [];
  const stop = client.diagnostics.unstable_streamLogs((event) => events.push(event.data));
  await new Promise((resolve) => setTimeout(resolve, 300)); // the channel is open and polling
  await (await client.llm.model("js-gemma")).respond("log me");
  for (let i = 0; i < 50 && events.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  stop();
  return events.map((data) => [data.type, data.input ?? data.output]);
});
await step("unknown", async () => client.llm.model("nope/nope"));
await step("failure", async () => (await (await client.llm.model("js-gemma")).respond("trigger failure")).content);
await step("crash", async () => {
  const prediction = (await client.llm.model("js-gemma")).respond("trigger crash");
  const fragments = [];
  try {
    for await (const fragment of prediction) fragments.push(fragment.content);
    return { fragments: fragments.length, finished: true };
  } catch (error) {
    return { fragments: fragments.length, error: String(error.message) };
  }
});
await step("unload", async () => {
  const model = await client.llm.model("js-gemma");
  await model.unload();
  return (await client.llm.listLoaded()).map((m) => m.identifier);
});

console.log(JSON.stringify(out));
process.exit(0);
