#!/usr/bin/env node
// The CDK app: `npm ci && npx cdk synth` (or `cdk deploy`) in deploy/cdk. Context (cdk.json or -c NAME=VALUE):
//   pscacheLayerArn   an already published pscache layer version; without it the layer is made from layerZip
//   layerZip          default ../../dist/pscache-layer-<architecture>.zip (scripts/build-layer writes it)
//   architecture      x86_64 (default) or arm64, of the layer and the functions
//   parameterPath     the Parameter Store path the functions may read (default /pscache-example)
//   kmsKeyArn         the customer managed key of your SecureStrings and secrets, if any
import * as cdk from "aws-cdk-lib";
import { PscacheExampleStack } from "../lib/pscache-example-stack";

const app = new cdk.App();
const architecture = app.node.tryGetContext("architecture") ?? "x86_64";
new PscacheExampleStack(app, "PscacheExample", {
  layerArn: app.node.tryGetContext("pscacheLayerArn"),
  layerZip: app.node.tryGetContext("layerZip") ?? `../../dist/pscache-layer-${architecture}.zip`,
  architecture,
  parameterPath: app.node.tryGetContext("parameterPath") ?? "/pscache-example",
  kmsKeyArn: app.node.tryGetContext("kmsKeyArn"),
});
