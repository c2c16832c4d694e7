"""Cloud providers: each module translates between the OpenAI format the router speaks and one provider's
wire format, as pure functions over dicts (`anthropic_format`: Messages; `gemini_format`: generateContent
and batchEmbedContents; `openai_shapes`: the answers, chunks, error frames and tool arguments both
build). Not yet wired into `/v1`: the HTTP clients (the providers' SDKs), the
`<provider>:<model>` routing and the costs come next (issue 13)."""
