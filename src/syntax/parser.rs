use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "../grammar/playbook.pest"]
pub struct SyntaxParser;
