// The same stack as deploy/template.yaml (AWS SAM), in CDK: the pscache layer, the Python example function (and its
// boto3 twin pointed at pscache by the SDK's endpoint variables), a parameter, a secret, and a role allowing exactly
// the calls pscache makes. Paths are relative to the app's folder, where `cdk` runs it.
import * as path from "node:path";
import * as cdk from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as ssm from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";

export interface PscacheExampleProps extends cdk.StackProps {
  layerArn?: string;
  layerZip: string;
  architecture: "x86_64" | "arm64";
  parameterPath: string;
  kmsKeyArn?: string;
}

export class PscacheExampleStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: PscacheExampleProps) {
    super(scope, id, props);
    const architecture = props.architecture === "arm64" ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    const pscache = props.layerArn
      ? lambda.LayerVersion.fromLayerVersionArn(this, "PscacheLayer", props.layerArn)
      : new lambda.LayerVersion(this, "PscacheLayer", {
          layerVersionName: "pscache",
          description: "pscache, an in-memory cache for SSM parameters and Secrets Manager secrets on localhost:2773",
          code: lambda.Code.fromAsset(path.resolve(props.layerZip)),
          compatibleArchitectures: [architecture],
          license: "Apache-2.0",
        });

    const parameter = new ssm.StringParameter(this, "ExampleParameter", {
      parameterName: `${props.parameterPath}/greeting`,
      stringValue: "hello from Parameter Store, served by pscache",
      description: "Read by the pscache example function",
    });
    const secret = new secretsmanager.Secret(this, "ExampleSecret", {
      secretName: `${this.stackName}/api-key`,
      description: "Read by the pscache example function",
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });

    const parameterArn = (suffix: string) =>
      this.formatArn({ service: "ssm", resource: "parameter", resourceName: props.parameterPath.slice(1) + suffix });
    const role = new iam.Role(this, "ExampleFunctionRole", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName("service-role/AWSLambdaBasicExecutionRole")],
      inlinePolicies: {
        "pscache-read": new iam.PolicyDocument({
          statements: [
            // /systemsmanager/parameters/get and /batch
            new iam.PolicyStatement({ sid: "ReadParameters", actions: ["ssm:GetParameter", "ssm:GetParameters"],
              resources: [parameterArn("/*")] }),
            // /systemsmanager/parameters/path: authorised against the requested path, not the parameters returned
            new iam.PolicyStatement({ sid: "ReadParametersByPath", actions: ["ssm:GetParametersByPath"],
              resources: [parameterArn(""), parameterArn("/*")] }),
            // /secretsmanager/get; BatchGetSecretValue also needs it on each secret it returns
            new iam.PolicyStatement({ sid: "ReadSecrets", actions: ["secretsmanager:GetSecretValue"],
              resources: [secret.secretArn] }),
            // /secretsmanager/batch: the action takes no resource; each secret is checked through GetSecretValue
            new iam.PolicyStatement({ sid: "BatchReadSecrets", actions: ["secretsmanager:BatchGetSecretValue"],
              resources: ["*"] }),
            // SecureString parameters and secrets under a customer managed key, only through those two services
            new iam.PolicyStatement({
              sid: "DecryptThroughSsmAndSecretsManager",
              actions: ["kms:Decrypt"],
              resources: [props.kmsKeyArn ?? this.formatArn({ service: "kms", resource: "key", resourceName: "*" })],
              conditions: { StringEquals: { "kms:ViaService": [`ssm.${this.region}.amazonaws.com`,
                                                               `secretsmanager.${this.region}.amazonaws.com`] } },
            }),
          ],
        }),
      },
    });

    const common = {
      runtime: lambda.Runtime.PYTHON_3_12,
      architecture,
      code: lambda.Code.fromAsset(path.resolve("../../examples/python")),
      memorySize: 256,
      timeout: cdk.Duration.seconds(10),
      role,
      layers: [pscache],
    };
    const fn = new lambda.Function(this, "ExampleFunction", {
      ...common,
      description: "Reads a parameter and a secret through pscache on localhost:2773",
      handler: "function.handler",
      environment: {
        EXAMPLE_PARAMETER: parameter.parameterName,
        EXAMPLE_SECRET: secret.secretArn,
        // The AWS extension's settings, with its defaults; pscache reads the same variables.
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: "2773",
        SSM_PARAMETER_STORE_TTL: "300",
        SECRETS_MANAGER_TTL: "300",
      },
    });
    // No code change: the same reads with boto3; two standard variables send its calls to pscache's wire front.
    const sdkFn = new lambda.Function(this, "SdkExampleFunction", {
      ...common,
      description: "The same reads with boto3 and no pscache code; two endpoint variables send them to pscache",
      handler: "sdk_function.boto3_handler",
      environment: {
        EXAMPLE_PARAMETER: parameter.parameterName,
        EXAMPLE_SECRET: secret.secretArn,
        AWS_ENDPOINT_URL_SSM: "http://localhost:2773",
        AWS_ENDPOINT_URL_SECRETS_MANAGER: "http://localhost:2773",
      },
    });
    // Do not also set paramsAndSecrets (CDK's option that adds the AWS extension): both want port 2773.

    new cdk.CfnOutput(this, "FunctionName", { value: fn.functionName });
    new cdk.CfnOutput(this, "SdkFunctionName", { value: sdkFn.functionName });
    new cdk.CfnOutput(this, "LayerVersionArn", { value: pscache.layerVersionArn });
  }
}
