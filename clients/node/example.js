'use strict';
// node example.js "I want to cancel my last order" [host:port]
const { InfoGapClient } = require('./index');

async function main() {
  const text = process.argv[2] || 'I want to cancel my last order';
  const client = new InfoGapClient(process.argv[3] || process.env.INFOGAP_ADDRESS || '127.0.0.1:50051');
  try {
    const response = await client.identifyNeeds(text, { topK: 3 });
    for (const need of response.needs) console.log(`${need.intent}\t${need.score.toFixed(3)}`);
    console.log(`sentiment\t${response.sentiment.label}\tmodel\t${response.model.name}/${response.model.version}`);
  } catch (error) {
    console.error(`error: ${error.message}`);
    process.exitCode = 1;
  } finally {
    client.close();
  }
}

main();
