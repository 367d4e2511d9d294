//! The emulator harness itself works: the server starts, the SDK reaches it, reset clears state.
use integration_tests::own_moto;

#[tokio::test]
async fn moto_server_answers_the_rust_sdk() {
    let moto = own_moto();
    let config = moto.sdk_config_with_sdk_retries().await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    ssm.put_parameter()
        .name("/smoke/param")
        .value("v1")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put parameter on moto");
    let got = ssm
        .get_parameter()
        .name("/smoke/param")
        .send()
        .await
        .expect("get parameter");
    assert_eq!(got.parameter().and_then(|p| p.value()), Some("v1"));
    moto.reset().expect("reset");
    assert!(ssm
        .get_parameter()
        .name("/smoke/param")
        .send()
        .await
        .is_err());
}
